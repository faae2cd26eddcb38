print("c77-secure-dbctl")
