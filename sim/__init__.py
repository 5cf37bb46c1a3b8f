"""cutover: discrete-event simulation of a staged record-system cutover.

The package answers one planning question: during the weeks when staff must sign and
watch lab results in two systems, how many abnormal results go late or unwatched, where,
when, and at what cost in staff hours.
"""

__version__ = "0.1.0"
