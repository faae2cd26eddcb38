print("c77-secure-dbd")
