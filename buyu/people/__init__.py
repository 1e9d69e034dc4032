"""Collectors and teams: who works the accounts, with what skills, languages, region and capacity."""
