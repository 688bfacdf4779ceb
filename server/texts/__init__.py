"""The server's texts for people in their language: the languages (language.py) and the error messages' translations
(errors.py with one catalogue per language and area)."""
