"""The four OrbitPay contracts as the indexer sees them: events, calls, decoders.

Pure functions only: :func:`orbitpay.contracts.registry.decode_event` turns an
event's XDR into a typed event (or a reason to store it raw).
"""
