"""The template's tests: the jobs, the pipeline definition, the copy to production, the CI entry point."""
