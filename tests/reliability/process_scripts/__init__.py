"""Child-process scripts for the process-life tests, and the OTLP/HTTP sink they export to."""
