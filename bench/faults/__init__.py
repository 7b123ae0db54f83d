"""Fault drills and load figures for the tracker, with real parts: daemon processes
(`python -m tracker run`), aiosmtpd, a webhook receiver verifying with
`standardwebhooks`, the PostgreSQL server on 127.0.0.1:5432, a tmpfs mount.

    .venv/bin/python -m bench.faults [--only NAME,...] [--kills 20] [--no-load]

Drills (each in a scratch folder and database; see each module):

    mail          the SMTP server down for several retries        (delivery.py)
    webhook       a receiver answering 500, then 429, then hanging (delivery.py)
    pg-restart    PostgreSQL restarted mid-cycle, two replicas     (pgrestart.py)
    kills         the daemon killed with SIGKILL 20 times          (kills.py)
    disk-full     the disk full while a snapshot is written        (diskfull.py)
    load          5,000 sources on 1 and 500 hosts, 1,000 changes,
                  10,000 subscribers: time, memory, politeness     (load.py)

It prints one table row per drill (events expected and recorded; messages expected,
delivered, duplicated and lost; the duplicates the documented crash window allows;
whether the history is intact) and the load figures, and exits 1 if any drill lost
anything. PostgreSQL is restarted by the `pg-restart` drill only, and always left
running. Run it alone: the restart breaks other clients of the server.
"""
