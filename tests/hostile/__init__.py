"""The hostile corpus: submissions that attack the grader (see ``attacks.py``)."""
