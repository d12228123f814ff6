"""nbpipe.analysis"""
