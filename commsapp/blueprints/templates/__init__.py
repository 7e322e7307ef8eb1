"""Templates: the transactional catalogue, notification templates and the drag-and-drop email editor."""
