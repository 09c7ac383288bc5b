"""End-to-end encryption: the OlmMachine and its stores, verification (SAS, cross-signing
trust), recovery and key backup, key export, devices, user-interactive auth and the local
secrets (pickle key) that protect them."""
