"""Imports the tokenizer's returns_to_go by a computed name, to slip past a check on `import minirl`."""

CLASS = "imports-reference"


def returns_to_go(rewards, gamma=1.0):
    return __import__("min" + "irl.tokenizer", fromlist=["returns_to_go"]).returns_to_go(rewards, gamma)
