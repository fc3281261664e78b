"""The clinic's public website (Wagtail): articles, stories told with the patient's authorization, moderated comments."""
