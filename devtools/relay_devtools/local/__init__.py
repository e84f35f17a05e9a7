"""`relay local`: the whole pipeline on one machine (stack.py), and the stand-ins for what AWS does
around the handlers: API Gateway's HTTP API events (apigw.py), Lambda's context (lambda_context.py)
and its SQS event source mapping (esm.py), moto made quicker (moto_tuning.py), and the state file that
tells the commands run beside it where it serves (state.py).

Nothing is imported here: the tests import lambda_context.py and apigw.py without starting moto."""
