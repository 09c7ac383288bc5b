"""The command-line front ends: ``exec``, ``shell`` (with its completion), ``accounts`` and
``demo``, and the local Synapse the demo and the tests start. None of them imports Textual."""
