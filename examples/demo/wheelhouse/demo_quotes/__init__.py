"""demo-quotes: the quote function's dependency. demo.Prepare packs this directory into a wheel
in the Python build image's wheel directory, which stands in for a package index."""
VERSION = "1.0"
QUOTE = "Simple things should be simple."
