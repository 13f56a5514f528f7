"""What results mean over time: change events now, tracks and zones next (see stage.py)."""
