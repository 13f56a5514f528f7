"""What this machine is and what camapp needs from it: install profiles, the camera stack, doctor."""
