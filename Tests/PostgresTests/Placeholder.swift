import Testing

@Test func placeholder_PostgresTests() {}
