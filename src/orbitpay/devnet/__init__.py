"""The devnet: a simulated Stellar RPC running the four OrbitPay contracts.

Modules: ``chain`` (ledgers, transactions, events, state), ``contracts/`` (the
contracts' rules), ``xdr`` (real XDR out), ``rpc`` (the JSON-RPC methods),
``server`` (HTTP, background and foreground runners), ``scenarios`` (deterministic
histories), ``faults`` (fault injection), ``dump`` (the ground-truth state dump).
"""
