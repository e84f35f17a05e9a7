"""What the tests share: constants, clocks, data, AWS fixtures' helpers, fakes and the ingress stack.

Test modules import from here and from conftest's fixtures only, never from another test module
(tests/unit/repo/test_architecture.py checks it).
"""
