from fidele.cli import main

main()
