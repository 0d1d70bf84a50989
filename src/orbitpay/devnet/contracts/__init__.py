"""The OrbitPay contracts (plus a SEP-41 token and a router) simulated in Python."""
