"""The loss-functions assignment: references, hidden properties and the parts registry."""
