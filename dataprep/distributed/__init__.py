"""The only place dataprep imports Ray: start-up and connection, and the wiring of jobs into Ray Data."""
