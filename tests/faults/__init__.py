"""Fault injection on a real multi-process deployment: the promises of RELIABILITY.md, tested
by killing, pausing, partitioning and flooding it (issue 8).

Run alone with `pytest tests/faults` (marker `faults`); `make soak` runs a long nemesis and a
50,000-run backlog (LEDGERFLOW_FAULTS_BACKLOG; CI queues 2,000).
`rig.py` builds the deployment (PostgreSQL on TCP, nats-server, proxies, api, two engines, two
workers), `checker.py` checks the log offline, `summary.py` prints what happened and writes it
to `.ledgerflow/faults-summary.txt` (or LEDGERFLOW_FAULTS_SUMMARY). LEDGERFLOW_FAULTS_KEEP=1
keeps the rig's folder (every process's log) even when all tests pass.
"""
