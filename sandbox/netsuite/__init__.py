"""Local NetSuite (SuiteTalk REST web services with token-based authentication) sandbox."""
