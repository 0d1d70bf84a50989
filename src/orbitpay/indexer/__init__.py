"""The indexer: getEvents -> decode -> transaction context -> projections, exactly once.

Entry points (``orbitpay.indexer.service``):

- ``run_indexer(settings, engine, rpc_url, stop, cache=None)``: the long-running
  loop of ``orbitpay up`` / ``orbitpay index`` (advisory lock, polling,
  periodic reconciliation, pause-and-resume on RPC or database outages);
- ``index_until_latest(settings, engine, rpc_url)``: catch every registered
  contract up to the RPC's latest ledger once, then reconcile; what
  ``orbitpay index --once``, tests and benchmarks use to fill a database;
- ``reconcile_once(settings, engine, rpc_url)``: ``orbitpay reconcile``.

Modules: ``pipeline`` (paging, prefetch, commit), ``txfetch`` (transaction
context, ``getTransactions`` ranges with ``getTransaction`` fallback),
``project`` (pure projection rules), ``store`` (snapshot loads, bulk writes,
cursors, status), ``reconcile`` (ledger state), ``lock`` (advisory lock),
``progress`` (catch-up progress).
"""
