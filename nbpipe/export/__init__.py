"""nbpipe.export"""
