"""The mockai pytest plugin. Imports nothing heavy until a fixture is used."""
