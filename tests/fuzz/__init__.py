"""Hostile-input fuzzing of every parser that reads outside data.

Each module feeds generated and mutated input to one parser and holds it to the same
contract: it parses, or it raises the project's own error type with a short message;
never another exception, never a hang, never memory out of proportion to the input.
Valid inputs round-trip where that makes sense. ``support`` holds the Hypothesis
profiles (a fixed, derandomised set of examples in CI; ``PORTSIDE_FUZZ=deep`` for a
long local run), the memory bound, and the JSON mutation engine the modules share.
"""
