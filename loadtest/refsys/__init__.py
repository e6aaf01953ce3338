"""The reference system: a real multi-process batch/stream system built from a model file.

The gateway (:mod:`.gateway`) hosts the stations upstream of any broker; with the Redis
backend every station downstream of a broker runs in worker processes (:mod:`.worker`)
started and restarted by :mod:`.supervisor`.
"""
