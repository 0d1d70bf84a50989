"""OrbitPay indexer: the OrbitPay Soroban contracts, indexed into PostgreSQL, served over HTTP."""

__version__ = "0.1.0"
