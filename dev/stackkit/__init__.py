"""The native service stack behind ``dev/stack.py``, one module per role.

* :mod:`.settings`: state/cache folders, ports, names, the error type and the log line;
* :mod:`.credentials`: the local credentials generated per state folder;
* :mod:`.supervisor`: one managed process (PID file, start in its own session, health wait, stop by group);
* :mod:`.java`: the Java services' jars (resolved by Maven into the cache) and JVM command lines;
* :mod:`.postgres`, :mod:`.kafka`, :mod:`.connect`, :mod:`.s3proxy`: one service each (prepare, health);
* :mod:`.airflow_env`: the Airflow connections of the stack and ``airflow.env``;
* :mod:`.commands`: the services in start order and the ``up`` / ``down`` / ``status`` / ... commands.

Third-party Python modules are imported lazily so that ``down`` and ``status`` work with the standard
library alone.
"""
