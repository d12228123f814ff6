"""nbpipe.runtime"""
