"""The apps folder of the Uliweb3 project served by ``frameworks.uliweb_app``."""
