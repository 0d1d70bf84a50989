"""The indexer: source -> decode -> enrich -> project -> store, exactly once.

Entry points (``orbitpay.indexer.service``):

- ``run_indexer(settings, engine, rpc_url, stop, cache=None)``: the long-running
  loop of ``orbitpay up`` / ``orbitpay index`` (advisory lock, polling,
  periodic reconciliation, pause-and-resume on RPC or database outages);
- ``index_until_latest(settings, engine, rpc_url)``: catch every registered
  contract up to the RPC's latest ledger once, then reconcile; what
  ``orbitpay index --once``, tests and benchmarks use to fill a database;
- ``reconcile_once(settings, engine, rpc_url)``: ``orbitpay reconcile``.

Stages: ``sources`` (``rpc``: getEvents lanes in lockstep; ``archive``: the
SEP-54 data lake; both yield ledger-ordered batches with a resumable
position), decoding in ``orbitpay.contracts``, ``enrich`` (transaction
context and typed call records; ``txfetch`` fetches transactions),
``project`` (one module of rules per contract, typed rows), ``store`` (bulk
writes, cursors, status, ``coverage``); ``pipeline`` only orchestrates them.
Beside the stages: ``bootstrap`` and ``reconcile`` (ledger state),
``backfill`` (claimed ranges from the data lake), ``chain`` (network reset
detection), ``lock`` (advisory lock), ``progress`` (catch-up progress).
"""
