"""The operator dashboard: runs, trigger, validation reports, evaluation, drift, schedules, models.

A FastAPI app served by uvicorn on localhost. It reads what the platform already records (ML
Metadata through ``mlops.metadata``/``mlops.summary``, run records, the run lock) and acts
through the same code as the CLI (``mlops.trigger``), so the two never disagree.
"""
