"""Hidden grading material, one package per assignment; students never see this folder."""
