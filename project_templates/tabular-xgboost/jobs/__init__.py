"""Code that runs inside the pipeline's SageMaker jobs (each file is uploaded alone and run as a script)."""
