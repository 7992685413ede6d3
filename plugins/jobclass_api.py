"""The jobclass plugin for the repository's plugins folder: the class lives in ``jobclass.airflow.plugin``.

The star import exports ``JobclassApiPlugin`` only where the installed package's ``airflow.plugins``
entry point does not already register it (Airflow would report the second copy as an import error).
"""

from jobclass.airflow.plugin import *  # noqa: F403
