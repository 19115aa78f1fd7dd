"""Task bodies of the sync DAGs (the DAG files only wire them)."""
