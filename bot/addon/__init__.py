"""The add-on face: the signed /addon API the Apps Script menu calls."""
