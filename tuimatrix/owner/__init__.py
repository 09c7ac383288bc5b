"""One engine per profile: the owner process and the local socket other processes use.

At most one process owns a profile (:mod:`tuimatrix.core.profile_lock`): it syncs, holds the
encryption devices and writes the stores. It serves every other tuimatrix process of the
profile (``exec``, ``shell``, ``listen``) over a Unix socket (:mod:`.server`); a process that
finds no owner hosts one itself for as long as it lives (:mod:`.attach`).
"""
