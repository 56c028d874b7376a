"""One module per stack; stacks compose constructs and hold no business logic."""
