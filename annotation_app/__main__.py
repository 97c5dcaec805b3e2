from annotation_app.app import main

main()
