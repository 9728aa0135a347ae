from pkdose.cli import main

main()
