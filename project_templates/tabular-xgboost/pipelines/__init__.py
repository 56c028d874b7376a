"""The project's SageMaker Pipeline, its CI entry point and the copy to production."""
