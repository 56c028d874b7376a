"""``make demo``: the platform's promotion flow, offline, in three moto accounts, with the real handlers.

See ``demo/__main__.py`` for the story and ``demo/synthesized.py`` / ``demo/runtime.py`` for the
stand-ins (deployment of the synthesized stacks, EventBridge delivery, Lambda's SQS polling). The
product code (``lambdas/``) is imported as it is deployed and never knows it runs in a demo.
"""
