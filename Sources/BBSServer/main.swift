print("bbs-server: not wired yet")
