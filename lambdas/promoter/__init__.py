"""The promoter function: approval in the registry -> change set in the stage's account (see ``handler``)."""
